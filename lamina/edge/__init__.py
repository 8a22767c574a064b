"""Lambda@Edge: an HTTP proxy that runs CloudFront viewer/origin triggers (see proxy.py)."""
