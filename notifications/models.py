# Messages: outbox, rendering, email delivery and the in-app inbox (next issue).
