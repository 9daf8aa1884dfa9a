"""The Textual dashboard: the physician's overview and the nurse's chair view."""
