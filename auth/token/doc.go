// Package token owns esgate's short-lived credentials: tokens that expire
// within minutes and that esgate keeps fresh in the background instead of
// reading once from the configuration.
//
//   - [NewOAuth2] gets tokens from an OAuth2 token endpoint with the client
//     credentials grant (RFC 6749 §4.4), authenticating the client with
//     HTTP Basic (§2.3.1, the default) or body parameters.
//   - [NewFile] follows a JWT in a file that something else rotates: a
//     Kubernetes projected service-account token (the kubelet swaps a
//     ..data symlink by rename) or a token agent's output.
//   - [WithSharedSecret] adds an Elasticsearch JWT realm's client shared
//     secret (ES-Client-Authentication: SharedSecret …) to any credential.
//
// A [Provider] implements auth.Provider, auth.Runner, auth.RejectNotifier
// and auth.ReadyReporter. Its Credential never does I/O: one background
// loop (Run) refreshes at 80 % of a token's lifetime, earlier when the
// lifetime is short, retries with jittered backoff, and refreshes at once
// (single-flight, at most once a second) when Elasticsearch refuses the
// token. It never hands out a token it knows has expired: it returns an
// error wrapping auth.ErrNoValidCredential that names the last failure
// instead, until a new token arrives.
//
// JWT claims are read without verifying the signature (Elasticsearch
// does that); they only tell esgate when a token expires and whose it is.
// No error, log line or String of this package contains a token or a
// secret.
package token
