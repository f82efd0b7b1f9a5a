package main

import (
	"net"
	"os"
)

// sdNotify tells systemd about esgate's state (READY=1, RELOADING=1,
// STOPPING=1) through $NOTIFY_SOCKET, as a Type=notify service does. Outside
// systemd (no NOTIFY_SOCKET) it does nothing. Errors are returned for the
// log; they never stop esgate.
func sdNotify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] == '@' { // an abstract socket
		addr = "\x00" + addr[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
