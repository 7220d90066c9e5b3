"""Webhook handler: takes LeanIX deliveries, queues them, runs the TIME and notification rules."""
