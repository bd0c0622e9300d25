-- Alerts to Apprise URLs (monitoring/apprise_targets.py) are deliveries of format 'apprise',
-- retried like webhooks'.
ALTER TABLE alert_deliveries DROP CONSTRAINT alert_deliveries_format_check;
ALTER TABLE alert_deliveries ADD CONSTRAINT alert_deliveries_format_check
    CHECK (format IN ('json', 'slack', 'apprise'));
