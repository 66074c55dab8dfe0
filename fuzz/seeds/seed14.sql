ALTER TYPE status ADD VALUE 'refunded' AFTER 'paid';
