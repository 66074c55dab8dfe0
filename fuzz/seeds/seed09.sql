UPDATE users SET email_lower = lower(email);
