"""The seed's snippets, kept runnable (adapted only where they could not run) to show their bugs."""
