ANSWER = "one"
