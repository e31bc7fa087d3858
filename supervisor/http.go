package supervisor

import (
	"context"
	"net/http"
)

// httpServer serves the API for the daemon. The daemon prepares the data
// dir itself before etcd starts, so it offers no Initializer.
func (d *Daemon) httpServer() *http.Server {
	api := &API{
		Phase:     func() Phase { return d.phase.Load().(Phase) },
		Etcd:      d.client.Load,
		Snapshots: d.sched,
		Store:     d.sched.Store,
		Gatherer:  d.registry,
		Options:   d.cfg.APIOptions,
		Log:       d.cfg.Log,
	}
	return api.Server(context.Background())
}
