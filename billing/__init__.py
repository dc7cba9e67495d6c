"""Billing: Stripe Checkout, the Customer Portal and webhooks (see DESIGN.md section 4)."""
