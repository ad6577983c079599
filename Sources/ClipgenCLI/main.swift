print("clipgen: under construction")
