"""trunkline.media"""
