"""trunkline.fax"""
