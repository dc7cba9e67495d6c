"""Billing: Stripe Checkout, the Customer Portal and webhooks."""
