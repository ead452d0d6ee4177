"""Where student code runs: bubblewrap's sandbox for each kernel (``bwrap``), what one submission may use and
the cgroup that holds it to that (``limits``), and one submission in a process of its own (``isolate``)."""
