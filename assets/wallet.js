// wallet bridge (filled in by the sign-in issue)
