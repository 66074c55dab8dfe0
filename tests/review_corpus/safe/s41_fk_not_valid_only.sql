-- expect: none
SET lock_timeout = '2s';
ALTER TABLE comments ADD CONSTRAINT comments_post_id_fkey FOREIGN KEY (post_id) REFERENCES posts (id) NOT VALID;
