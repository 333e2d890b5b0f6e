"""Running a sweep on a fleet of GPU machines through Ray: one run per kind of GPU the
cluster offers, each measured by vae-bench itself on a node of that kind and streamed
back case by case into local run folders. Ray is an optional extra
(`pip install -e '.[fleet]'`); nothing outside this package imports it, and of this
package only `driver` does."""
