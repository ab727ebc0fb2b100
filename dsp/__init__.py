"""trunkline.dsp"""
