package configs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ParseCloudID decodes an Elastic Cloud ID ("label:base64(host$es_id$kibana_id)")
// into the Elasticsearch https URL, as Logstash's CloudSettingId does: the
// label is optional; both base64 alphabets are accepted; a port may follow
// the host ("host:9243") or the Elasticsearch id ("es_id:9243", which wins);
// the default port is 443.
func ParseCloudID(id string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return "", errors.New("is empty")
	}
	encoded := id
	if i := strings.LastIndexByte(id, ':'); i >= 0 {
		encoded = id[i+1:]
	}
	raw, err := decodeAnyBase64(encoded)
	if err != nil {
		return "", errors.New("the part after the label is not valid base64")
	}
	parts := strings.Split(strings.TrimSuffix(string(raw), "$"), "$")
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "", errors.New("after decoding it must have the form <host>$<elasticsearch id>$<kibana id>")
	}
	host, port := parts[0], "443"
	if h, p, ok := strings.Cut(host, ":"); ok {
		host, port = h, p
	}
	esID := parts[1]
	if e, p, ok := strings.Cut(esID, ":"); ok {
		esID, port = e, p
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", fmt.Errorf("invalid port %q", port)
	}
	if !dnsName(host) || !dnsName(esID) {
		return "", errors.New("after decoding the host or Elasticsearch id is not a valid DNS name")
	}
	return "https://" + net.JoinHostPort(esID+"."+host, port), nil
}

func decodeAnyBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// dnsName accepts letters, digits, '-', '_' and non-empty dot-separated labels.
func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" {
			return false
		}
		for _, c := range label {
			if !(c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
				return false
			}
		}
	}
	return true
}
