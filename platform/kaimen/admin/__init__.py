"""Administration pages of schools and bureaus: profiles, users, features, audit log."""
