"""What the admin says to everyone: the server's rules and long texts, announcements
(with people's dismissals and reactions) and custom emojis."""
