"""Exercise pictures: drawing poses, animations and the contact sheet (render.py), and the
picture book that renders every exercise ahead of need (book.py)."""
