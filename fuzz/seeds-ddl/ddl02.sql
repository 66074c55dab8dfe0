ALTER TABLE invoices ADD COLUMN org_id bigint;
UPDATE invoices SET org_id = a.organisation_id FROM accounts a WHERE invoices.account_id = a.id;
ALTER TABLE invoices ALTER COLUMN org_id SET NOT NULL;