// Command etcd is etcd's own server main, built at the version go.mod pins,
// for the tests of exec mode (etcdbrctl run -- etcd ...).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
