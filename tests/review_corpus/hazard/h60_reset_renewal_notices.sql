-- expect: unbatched-backfill
UPDATE subscriptions SET renewal_notice_sent = false WHERE status = 'active';
