"""trunkline.data: the data floor every layer may use and that imports none of them:
configuration (`config`), database setup and the model base (`db`), the core tables (`models`,
`sms_models`), first-run accounts (`accounts`), the durable spool (`spool`), migrations
(`schema`, `migrations/`) and time helpers (`timeutil`)."""
