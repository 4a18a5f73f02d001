"""Web Push: Mastodon's push subscriptions, the server's VAPID keys, and the consumer that
pushes each new notification to the subscribed devices."""
