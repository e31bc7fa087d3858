package embedded

import (
	"net"
	"testing"
)

func TestDialHostPort(t *testing.T) {
	tests := []struct {
		addr *net.TCPAddr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2379}, "127.0.0.1:2379"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 2379}, "127.0.0.1:2379"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 2379}, "127.0.0.1:2379"},
		{&net.TCPAddr{Port: 2379}, "127.0.0.1:2379"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 2379}, "[::1]:2379"},
		{&net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 32379}, "10.1.2.3:32379"},
	}
	for _, tt := range tests {
		if got := dialHostPort(tt.addr); got != tt.want {
			t.Errorf("dialHostPort(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
