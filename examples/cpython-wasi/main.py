import os

# Print environment variables to test security
for k, v in os.environ.items():
    print(f"{k}={v}")

print("------")
print("Hello World")
print("------")
print(os.listdir())
