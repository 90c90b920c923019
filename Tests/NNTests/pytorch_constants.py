# Computes the PyTorch reference values pasted into Tests/NNTests/PyTorchConstantTests.swift.
# Run: python3 Tests/NNTests/pytorch_constants.py (needs torch from PyPI).
import torch, math
torch.set_printoptions(precision=8)
def pattern(shape, scale=0.37, offset=0.1):
    n = math.prod(shape)
    return torch.tensor([math.sin(scale * i + offset) for i in range(n)], dtype=torch.float32).reshape(shape)
def show(name, t):
    print(name, "=", "[" + ", ".join(f"{v:.8g}" for v in t.detach().flatten().tolist()) + "]")

# Linear 4 -> 3, batch 2
lin = torch.nn.Linear(4, 3)
with torch.no_grad():
    lin.weight.copy_(pattern([3, 4], 0.5, 0.2)); lin.bias.copy_(pattern([3], 0.9, 0.3))
x = pattern([2, 4])
show("linear", lin(x))
# Conv2d 2->3, k3, stride 2, pad 1 on 1x2x5x5
conv = torch.nn.Conv2d(2, 3, 3, stride=2, padding=1)
with torch.no_grad():
    conv.weight.copy_(pattern([3, 2, 3, 3], 0.3, 0.5)); conv.bias.copy_(pattern([3], 1.1, 0.0))
show("conv", conv(pattern([1, 2, 5, 5], 0.21, 0.0)))
# MaxPool2d 2 on 1x2x4x5 (odd width drops last column)
show("maxpool", torch.nn.MaxPool2d(2)(pattern([1, 2, 4, 5], 0.83, 0.0)))
# BatchNorm2d(3): train on 2x3x2x2 twice, then eval
bn = torch.nn.BatchNorm2d(3)
with torch.no_grad():
    bn.weight.copy_(torch.tensor([1.5, 0.5, -1.0])); bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
xb = pattern([2, 3, 2, 2], 0.71, 0.0) * 2 + 0.5
show("bn_train", bn(xb))
show("bn_running_mean", bn.running_mean); show("bn_running_var", bn.running_var)
bn.eval()
show("bn_eval", bn(pattern([1, 3, 2, 2], 0.4, 1.0)))
# softmax / log_softmax on a row with a large offset
s = torch.tensor([[1000.0, 1001.0, 1002.0], [-3.0, 0.0, 2.5]])
show("softmax", torch.softmax(s, 1)); show("log_softmax", torch.log_softmax(s, 1))
# Adam, 3 steps on f(w) = sum((w - target)^2 * c), weight decay 0.01
w = torch.nn.Parameter(pattern([5], 0.9, 0.0))
target = pattern([5], 0.3, 1.0); c = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5])
opt = torch.optim.Adam([w], lr=0.1, weight_decay=0.01)
for _ in range(3):
    opt.zero_grad(); ((w - target) ** 2 * c).sum().backward(); opt.step()
show("adam", w)
w = torch.nn.Parameter(pattern([5], 0.9, 0.0))
opt = torch.optim.SGD([w], lr=0.05, momentum=0.9, weight_decay=0.01)
for _ in range(3):
    opt.zero_grad(); ((w - target) ** 2 * c).sum().backward(); opt.step()
show("sgd", w)
# cross entropy and nll on probabilities
logits = pattern([3, 4], 1.3, 0.0) * 3
show("cross_entropy", torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3, 1])))
