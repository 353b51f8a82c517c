"""Auth methods: how a caller proves who it is and gets a token (the token method first)."""
