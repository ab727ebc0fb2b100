"""trunkline.acd"""
