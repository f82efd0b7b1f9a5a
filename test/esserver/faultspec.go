package esserver

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseFault reads a fault from its command-line form: comma-separated
// key=value pairs, e.g. "path=_bulk,item_status=429,item_every=10" or
// "path=_search,status=503,count=3" or "delay=2s". Keys: path, count,
// delay, status, close_mid_response, item_status, item_every.
func ParseFault(spec string) (Fault, error) {
	var f Fault
	if strings.TrimSpace(spec) == "" {
		return f, fmt.Errorf("empty fault: use key=value pairs such as path=_bulk,item_status=429,item_every=10")
	}
	for _, kv := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return f, fmt.Errorf("fault %q: %q is not key=value", spec, kv)
		}
		var err error
		switch k {
		case "path":
			f.PathContains = v
		case "count":
			f.Count, err = nonNegative(v)
		case "delay":
			f.Delay, err = time.ParseDuration(v)
			if err == nil && f.Delay < 0 {
				err = fmt.Errorf("negative")
			}
		case "status":
			f.Status, err = httpStatus(v)
		case "close_mid_response":
			f.CloseMidResponse, err = strconv.ParseBool(v)
		case "item_status":
			f.ItemStatus, err = strconv.Atoi(v)
			if err == nil && f.ItemStatus != 429 && f.ItemStatus != 403 {
				err = fmt.Errorf("must be 429 or 403")
			}
		case "item_every":
			f.ItemEvery, err = nonNegative(v)
		default:
			return f, fmt.Errorf("fault %q: unknown key %q (path, count, delay, status, close_mid_response, item_status, item_every)", spec, k)
		}
		if err != nil {
			return f, fmt.Errorf("fault %q: %s=%q: %v", spec, k, v, err)
		}
	}
	if f.ItemStatus != 0 && f.ItemEvery == 0 {
		f.ItemEvery = 1
	}
	if f.Delay == 0 && f.Status == 0 && !f.CloseMidResponse && f.ItemStatus == 0 {
		return f, fmt.Errorf("fault %q does nothing: set delay, status, close_mid_response or item_status", spec)
	}
	return f, nil
}

func nonNegative(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err == nil && n < 0 {
		err = fmt.Errorf("negative")
	}
	return n, err
}

func httpStatus(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err == nil && (n < 400 || n > 599) {
		err = fmt.Errorf("must be a 4xx or 5xx status")
	}
	return n, err
}
