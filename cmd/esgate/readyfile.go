package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/esgate/esgate/proxy/route"
)

// ReadyFile is what `esgate serve --ready-file PATH` writes once every
// route listens: machine-readable addresses for a caller that asked for
// port 0 (tests, supervisors), instead of log lines to cut apart.
type ReadyFile struct {
	PID    int          `json:"pid"`
	Routes []ReadyRoute `json:"routes"`
	// Status is the status listener's bound host:port ("" when
	// status_listen is off).
	Status string `json:"status,omitempty"`
}

// ReadyRoute is one route's bound listener.
type ReadyRoute struct {
	Name string `json:"name"`
	// Listen is the bound address in listen's syntax: host:port, or
	// unix:PATH for a unix socket.
	Listen string `json:"listen"`
	// URL is the base URL a client uses (http or https; "" for a unix
	// socket).
	URL string `json:"url,omitempty"`
}

// writeReadyFile writes path (nothing when it is "") atomically: a temp
// file in the same directory, then a rename, so that a reader sees either
// no file or the whole of it. addrs[i] is routes[i]'s listener; an
// address beyond the routes' is the status listener's.
func writeReadyFile(path string, routes []*route.Route, addrs []net.Addr) error {
	if path == "" {
		return nil
	}
	rf := ReadyFile{PID: os.Getpid(), Routes: []ReadyRoute{}}
	for i, a := range addrs {
		if i >= len(routes) {
			rf.Status = a.String()
			continue
		}
		r := ReadyRoute{Name: routes[i].Name(), Listen: a.String()}
		if a.Network() == "unix" {
			r.Listen = "unix:" + a.String()
		} else if routes[i].TLSListener() {
			r.URL = "https://" + a.String()
		} else {
			r.URL = "http://" + a.String()
		}
		rf.Routes = append(rf.Routes, r)
	}
	b, err := json.MarshalIndent(rf, "", "  ")
	if err != nil {
		return fmt.Errorf("ready_file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("ready_file: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("ready_file: %w", err)
	}
	return nil
}

// removeReadyFile removes path at exit, so that a stale file never names
// the addresses of an esgate that is gone.
func removeReadyFile(path string) {
	if path != "" {
		os.Remove(path)
	}
}
