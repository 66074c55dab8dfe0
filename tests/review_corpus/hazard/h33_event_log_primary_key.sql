-- expect: add-primary-key-builds-index
SET lock_timeout = '2s';
ALTER TABLE event_log ADD PRIMARY KEY (id);
