"""Code every function shares: settings, logging, errors, the LeanIX client, platform ports."""
