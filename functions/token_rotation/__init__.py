"""Token rotation: replace a LeanIX technical user's API token and store it, never locking the bundle out.

`core.py` holds the four steps (create, set, test, finish) of the AWS rotation protocol, cloud-neutral;
`azure.py` is the timer that drives them (also run locally), `aws.py` the Secrets Manager rotation Lambda.
"""
