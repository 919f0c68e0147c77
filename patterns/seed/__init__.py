"""The seed's snippets, kept runnable (adapted only where they could not run at all) so lessons can show their bugs."""
