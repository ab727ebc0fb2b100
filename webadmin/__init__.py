"""trunkline.webadmin"""
