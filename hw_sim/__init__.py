"""trunkline.hw_sim"""
