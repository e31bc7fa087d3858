//go:build !linux

package datadir

// renameNoReplace renames oldpath to newpath and fails with an error
// matching fs.ErrExist if newpath exists.
func renameNoReplace(oldpath, newpath string) error {
	return renameIfAbsent(oldpath, newpath)
}
