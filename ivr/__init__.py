"""trunkline.ivr"""
