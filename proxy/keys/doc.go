// Package keys owns API keys that esgate mints and renews for itself
// (api_key_management): it creates a key with the route's own credentials,
// renews it before it expires, switches the forwarding credential over
// atomically, invalidates the old key once in-flight requests had time to
// finish, and re-mints at once when Elasticsearch says the key is expired,
// invalidated or unknown.
package keys
