"""Page shaping: stored rows to what pages and commands show (queries), page tables
(views, model_views) and how they look (presentation)."""
