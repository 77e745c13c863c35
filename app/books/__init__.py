"""Books: the example resource. Copy this folder's shape for a resource of your own."""
