"""One module per dataset kind, each turning annotation files into manifest rows and an audit.

`avexplain.data.manifest` dispatches on `datasets.<name>.kind` and is the public entry point.
"""
