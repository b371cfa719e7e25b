"""The tag catalog: a static site of the tags, sources, audiences, scenes, exports and quality results.

``tagfactory catalog`` builds it (:func:`tagfactory.catalog.site.build_catalog`); see README.md here.
"""
