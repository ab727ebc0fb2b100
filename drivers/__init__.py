"""trunkline.drivers"""
