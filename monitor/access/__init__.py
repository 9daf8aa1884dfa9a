"""Who may do what: the site's users and their roles, their broker passwords, and the ACL
the broker enforces. Pure, except for reading and writing the three files."""
